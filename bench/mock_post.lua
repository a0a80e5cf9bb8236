-- wrk script: every request a non-streaming chat completion (used against both
-- `ratelab mock` and nginx, so both parse the same request bytes).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":16}'
