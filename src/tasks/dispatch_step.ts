/*
 * dispatch_step: one step's attempt, the job of Baton before batched dispatch (jobs of that name may
 * still be queued in a database migrated from an older Baton). It is a batch of one.
 */
import { defineTask } from "./define";
import { dispatchSteps, StepAttempt } from "./dispatch_steps";

export const dispatchStep = defineTask(StepAttempt, async (item, ctx) => {
  await dispatchSteps([item], ctx);
});

