// The official Conductor JavaScript SDK against a Conductor server (the local engine in CI):
// register task definitions and a workflow, run a worker with the SDK's TaskHandler, start
// the workflow, wait for it to complete, and print one JSON line of what happened.
//
//   CONDUCTOR_SERVER_URL=http://127.0.0.1:PORT/api NAME=unique_prefix node run_workflow.mjs
import {
  ConductorWorkflow,
  OrkesClients,
  TaskHandler,
  simpleTask,
} from "@io-orkes/conductor-javascript";

const serverUrl = process.env.CONDUCTOR_SERVER_URL;
const name = process.env.NAME || "js_check";
const task = `${name}_shout`;
const errors = [];
const logger = {
  info: () => {},
  debug: () => {},
  warn: (...args) => errors.push(["warn", ...args].map(String).join(" ")),
  error: (...args) => errors.push(["error", ...args].map(String).join(" ")),
};

const clients = await OrkesClients.from({ serverUrl, useEnvVars: false, logger });
const metadata = clients.getMetadataClient();
const executor = clients.getWorkflowClient();

await metadata.registerTasks([
  { name: task, retryCount: 1, retryLogic: "FIXED", retryDelaySeconds: 0, responseTimeoutSeconds: 30,
    timeoutSeconds: 60, timeoutPolicy: "TIME_OUT_WF", ownerEmail: "learner@example.com" },
]);

const workflow = new ConductorWorkflow(executor, `${name}_flow`, 1)
  .add(simpleTask("first", task, { text: "${workflow.input.text}" }))
  .add(simpleTask("second", task, { text: "${first.output.loud}!" }))
  .outputParameters({ result: "${second.output.loud}", polls: "${second.pollCount}" });
await workflow.register(true);
await workflow.register(true);        // a second run of the same cell: overwrite, no 409

const handler = new TaskHandler({
  client: clients.getClient(),
  scanForDecorated: false,
  logger,
  workers: [{
    taskDefName: task,
    pollInterval: 20,
    execute: async (t) => ({ status: "COMPLETED", outputData: { loud: String(t.inputData.text).toUpperCase() } }),
  }],
});
await handler.startWorkers();

const workflowId = await workflow.startWorkflow({ text: "hello" });
let run;
const deadline = Date.now() + 30_000;
do {
  await new Promise((resolve) => setTimeout(resolve, 100));
  run = await executor.getWorkflow(workflowId, true);
} while (run.status === "RUNNING" && Date.now() < deadline);
await handler.stopWorkers();

const stored = await metadata.getWorkflowDef(`${name}_flow`, 1);
console.log(JSON.stringify({
  workflowId, status: run.status, output: run.output,
  tasks: run.tasks.map((t) => [t.referenceTaskName, t.status]),
  registeredTasks: stored.tasks.map((t) => t.taskReferenceName),
  errors,
}));
process.exit(0);
