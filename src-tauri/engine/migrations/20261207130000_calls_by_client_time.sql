-- An agent's figures over a window (`GET /api/v1/agents/{name}/stats`) read its calls by
-- client and start time.
CREATE INDEX calls_client_started ON calls (client, started_at);
