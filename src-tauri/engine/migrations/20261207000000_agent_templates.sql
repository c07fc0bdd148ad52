-- Versions of agents' prompt templates (engine module `agents::templates`): a row per change
-- of an agent's `prompt` or `system` in the config, numbered from 1. Never changed; kept.
CREATE TABLE agent_templates (
    agent       TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    prompt      TEXT NOT NULL,
    system      TEXT,
    hash        TEXT NOT NULL,                            -- SHA-256 of prompt and system
    created_at  INTEGER NOT NULL,                         -- ms since the epoch, UTC
    PRIMARY KEY (agent, version)
) STRICT;
