"""Read-side views of the ledger and live counters: metrics, reports, doctor."""
