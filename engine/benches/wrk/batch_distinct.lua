-- wrk script: batch.lua with the batch body whose 100 events all have different page URLs
-- (docs/benchmarks.md, "Sixth session"; run by intake.sh)
BATCH_BODY = "batch_distinct.json"
dofile(os.getenv("BODY_DIR") .. "/batch.lua")
