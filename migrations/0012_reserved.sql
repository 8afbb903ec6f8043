-- Placeholder: 0012 is assigned to the distillation trainers/evaluation branch (wip/dseval). This file only keeps
-- the numbering gap-free on wip/dsdata; drop it when merging that branch's 0012.
SELECT 1;
