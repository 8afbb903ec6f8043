-- Placeholder: 0012 is assigned to another branch. This file only keeps the numbering gap-free on wip/korean;
-- drop it when merging that branch's 0012.
SELECT 1;
