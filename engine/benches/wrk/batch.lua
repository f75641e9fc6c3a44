-- wrk script: POST the batch body with a browser's headers (docs/benchmarks.md, "Engine: HTTP intake"; run by intake.sh)
-- BATCH_BODY: another body with the same shape (set by batch_distinct.lua)
local f = assert(io.open(os.getenv("BODY_DIR") .. "/" .. (BATCH_BODY or "batch.json"), "r"))
wrk.method = "POST"
wrk.path = "/api/v1/analytics/track/batch"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("WRITE_KEY") or "none"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
