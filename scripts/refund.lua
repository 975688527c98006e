-- wrk script: one-cent refunds of the checkout in env CHECKOUT_ID (no
-- idempotency key, so every request is a real refund).
wrk.method = "POST"
wrk.body = '{"amount":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk_live_bench0123456789abcdef"
wrk.path = "/api/checkouts/" .. os.getenv("CHECKOUT_ID") .. "/refund"

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("non-2xx-or-socket-errors %d\n", errors))
end
