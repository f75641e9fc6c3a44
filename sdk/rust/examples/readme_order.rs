use ecomdash_client::{purchase, query, Client, Tls};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let tls = Tls::pinned_sha256(&env("FINGERPRINT")?)?;
    let client = Client::quic(env("QUIC_ADDR")?.parse()?, &env("WRITE_KEY")?, tls).build()?;
    let id = format!("order-{}", std::process::id());
    let order = purchase(&id, 199.99, "USD", "https://demo.example/checkout/done");
    let ack = client.send_batch(vec![order]).await?; // returns once the order is durable
    client.close().await?;
    let sql = format!("SELECT name, revenue, currency FROM events WHERE order_id = '{id}'");
    let result = query(&env("HTTP_URL")?, &env("READ_KEY")?, &sql).await?;
    print!("accepted {}\n{result}", ack.accepted);
    Ok(())
}
