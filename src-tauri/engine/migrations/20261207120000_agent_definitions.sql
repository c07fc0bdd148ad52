-- A task runs on the agent definition it started with: its first attempt pins the version
-- (`tasks.agent_version`, a hash of the definition) and the definition is kept once per
-- version (`agent_definitions`, engine module `agents`), so a retry after a config change
-- runs the same prompt, schema, tools and limits. A requeue starts over on the current one.
ALTER TABLE tasks ADD COLUMN agent_version TEXT;

CREATE TABLE agent_definitions (
    agent           TEXT NOT NULL,
    version         TEXT NOT NULL,                        -- agents::version_of(definition)
    definition      TEXT NOT NULL CHECK (json_valid(definition)),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (agent, version)
) STRICT;
