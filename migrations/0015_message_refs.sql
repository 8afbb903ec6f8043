-- Messages the console translates: next to each English text the backend writes for people, the message key and
-- its parameters as JSON {"key": "...", "params": {...}} (see src/shared/messages.ts). Null for rows written before
-- this migration and for free text (an operator's note, an engine's own error): the console shows the English.
ALTER TABLE jobs ADD COLUMN title_ref TEXT CHECK (title_ref IS NULL OR json_valid(title_ref));
ALTER TABLE jobs ADD COLUMN progress_ref TEXT CHECK (progress_ref IS NULL OR json_valid(progress_ref));
ALTER TABLE jobs ADD COLUMN error_ref TEXT CHECK (error_ref IS NULL OR json_valid(error_ref));
ALTER TABLE job_logs ADD COLUMN message_ref TEXT CHECK (message_ref IS NULL OR json_valid(message_ref));
ALTER TABLE cache_entry_versions ADD COLUMN note_ref TEXT CHECK (note_ref IS NULL OR json_valid(note_ref));
