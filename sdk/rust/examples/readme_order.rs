use ecomdash_client::{query, Client, Ecommerce, EventType, Tls, WireEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let tls = Tls::pinned_sha256(&env("FINGERPRINT")?)?;
    let client = Client::quic(env("QUIC_ADDR")?.parse()?, &env("WRITE_KEY")?, tls).build()?;
    let order_id = format!("order-{}", std::process::id());
    let ecommerce = Ecommerce {
        order_id: Some(order_id.clone().into()),
        order_value: Some(199.99),
        order_currency: Some("USD".into()),
        ..Default::default()
    };
    let order = WireEvent {
        event_type: EventType::Ecommerce,
        name: Some("purchase".into()),
        url: "https://demo.example/checkout/done".into(),
        ecommerce: Some(ecommerce),
        ..Default::default()
    };
    let ack = client.send_batch(vec![order]).await?; // returns once the order is durable
    client.close().await?;
    let sql = format!(
        "SELECT name, order_id, revenue, currency FROM events WHERE order_id = '{order_id}'"
    );
    let result = query(&env("HTTP_URL")?, &env("READ_KEY")?, &sql).await?;
    print!("accepted {}\n{result}", ack.accepted);
    Ok(())
}
