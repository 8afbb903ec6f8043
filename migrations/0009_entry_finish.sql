-- How a cached answer ended, so it is served as it was generated: "length" (cut off at max_tokens) is never served
-- as a complete answer, and "tool_calls" answers carry the calls (OpenAI's shape, JSON). Older entries ended normally.
ALTER TABLE cache_entries ADD COLUMN finish_reason TEXT NOT NULL DEFAULT 'stop'
  CHECK (finish_reason IN ('stop', 'length', 'tool_calls'));
ALTER TABLE cache_entries ADD COLUMN tool_calls TEXT CHECK (tool_calls IS NULL OR json_valid(tool_calls));
