-- assimetria-auth schema, version 3 (PostgreSQL).
--
-- Kept in step with ../sqlite/0003_indexes_for_user_deletion.sql. Indexes for removing a user
-- (UserStore::delete_user_ending_sessions): each row that refers to the user is found through an
-- index, and so is the foreign-key check when the user row goes, instead of a scan of the table.

-- All of a user's sessions, ended ones included (a removal deletes them all). It serves the live
-- ones a role change or reset ends as well, so the partial index on live sessions goes.
DROP INDEX auth_sessions_live_by_user;
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_id);

-- The API keys a user created.
CREATE INDEX auth_api_keys_by_creator ON auth_api_keys (created_by);

-- A user's reset tokens (spending one reads every pending token of the user, too).
CREATE INDEX auth_reset_tokens_by_user ON auth_reset_tokens (user_id);
