-- 000026_limits_fairness_routing: reserved for issue 12; filled in by the change that builds it.
select 1;
