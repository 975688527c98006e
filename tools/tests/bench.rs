//! The benchmark harness at test size: every call it times is a real,
//! successful refund, on each runtime shape it measures.

use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use refundkit_tools::bench::{self, Side, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_timed_call_is_one_real_refund() {
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let url = emulator.base_url();
    let control = ControlClient::new(&url, SECRET);
    let checkout = bench::paid_checkout(&control, 10_000)
        .await
        .expect("checkout");

    let sdk = bench::series(Side::Sdk, &url, &checkout, 120, 8)
        .await
        .expect("sdk series");
    let checkout_for_threads = checkout.clone();
    let url_for_threads = url.clone();
    let bare = tokio::task::spawn_blocking(move || {
        bench::series_threads(
            Side::Bare,
            &url_for_threads,
            &checkout_for_threads,
            120,
            8,
            2,
        )
    })
    .await
    .expect("join")
    .expect("bare series");

    assert_eq!((sdk.name.as_str(), sdk.calls), ("refundkit::Client", 120));
    assert_eq!((bare.name.as_str(), bare.calls), ("bare reqwest POST", 120));
    assert!(sdk.rate() > 0.0 && bare.rate() > 0.0);
    // Timed calls plus warm-up (50 per series, 50 per thread), one cent each.
    let refunds = control.ledger(Some(&checkout)).await.expect("ledger");
    assert_eq!(refunds.len(), 120 + 50 + 120 + 2 * 50);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_failing_call_fails_the_series_instead_of_being_timed() {
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let url = emulator.base_url();
    let err = bench::series(Side::Sdk, &url, "ch_doesnotexist", 10, 2)
        .await
        .expect_err("refunds of a missing checkout fail");
    assert!(
        err.to_string().to_lowercase().contains("not found"),
        "{err}"
    );
    let err = tokio::task::spawn_blocking(move || {
        bench::series_threads(Side::Bare, &url, "ch_doesnotexist", 10, 2, 2)
    })
    .await
    .expect("join: no thread hangs or panics")
    .expect_err("a 404 is not a refund");
    assert!(err.to_string().contains("404"), "{err}");
    emulator.shutdown().await;
}
