-- A connector's scheduled verify (`verify_schedule`) has ticks of its own, claimed once across
-- replicas like its pulls' ticks (src/scheduler/schedule-ticks.ts): one row per connector and job.
alter table schedule_ticks add column job text not null default 'pull' check (job in ('pull', 'verify'));
alter table schedule_ticks drop constraint schedule_ticks_pkey;
alter table schedule_ticks add primary key (connector_id, job);
