-- 000024_plan_review: reserved for issue 12; filled in by the change that builds it.
select 1;
