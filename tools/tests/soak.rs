//! The fault soak at test size: 1,000 refunds under 30% faults, reconciled
//! with the emulator's ledger.

use refundkit_tools::soak::{run, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_faulty_refunds_are_neither_doubled_nor_lost() {
    let report = run(&SoakConfig {
        calls: 1_000,
        ..SoakConfig::default()
    })
    .await
    .expect("soak ran");
    assert_eq!(report.duplicates, 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.phantom, 0, "{report}");
    assert_eq!(report.unconverged, 0, "{report}");
    assert!(
        report.retries > 0,
        "faults were injected, so some calls retried: {report}"
    );
    assert!(report.ledger_entries >= report.successes, "{report}");
}
