-- PLACEHOLDER on branch wip/distill only: migration 0008 belongs to another branch. The runner refuses gaps, so this
-- empty file lets 0010_distill run on this branch alone. Delete it when merging the branch that owns 0008.
SELECT 1;
