// Drives `tokentide serve`'s LangGraph Agent Server API with @langchain/langgraph-sdk's Client.
// Usage: node agent_server.mjs <base-url>. Prints one JSON object (what was seen) on stdout;
// any failure exits non-zero with the error on stderr. The Python test asserts on the JSON.
import { Client } from "@langchain/langgraph-sdk";

const apiUrl = process.argv[2];
const client = new Client({ apiUrl, apiKey: null, callerOptions: { maxRetries: 0 } });
const input = { messages: [{ type: "human", content: "hi" }] };
const out = {};

out.assistants = (await client.assistants.search()).map((a) => a.assistant_id).sort();
out.assistant = (await client.assistants.get("agent")).graph_id;

const thread = await client.threads.create({ metadata: { from: "node" } });
out.threadStatus = thread.status;

// a streamed run with the modes useStream asks for
let created = null;
const events = [];
let text = "";
let lastValues = null;
for await (const part of client.runs.stream(thread.thread_id, "agent", {
  input,
  streamMode: ["values", "messages-tuple", "updates", "custom"],
  onRunCreated: (meta) => {
    created = meta;
  },
})) {
  events.push(part.event);
  if (part.event === "messages") {
    const [message, metadata] = part.data;
    if (message.type === "AIMessageChunk") text += message.content;
    out.node = metadata.langgraph_node;
  }
  if (part.event === "values") lastValues = part.data;
  if (part.event === "custom") out.custom = part.data;
}
out.createdRunId = created?.run_id ?? null;
out.createdThreadId = created?.thread_id ?? null;
out.firstEvent = events[0];
out.eventNames = [...new Set(events)].sort();
out.streamedText = text;
out.lastValuesText = lastValues.messages.at(-1).content;

// the legacy "messages" mode: partial messages, accumulated
let partial = null;
for await (const part of client.runs.stream(null, "agent", { input, streamMode: "messages" })) {
  if (part.event === "messages/partial") partial = part.data[0].content;
}
out.partialText = partial;

// state, history, wait
const state = await client.threads.getState(thread.thread_id);
out.stateMessages = state.values.messages.length;
out.stateCheckpoint = state.checkpoint.checkpoint_id !== null;
out.history = (await client.threads.getHistory(thread.thread_id, { limit: 2 })).length;
const waited = await client.runs.wait(thread.thread_id, "agent", { input });
out.waitedMessages = waited.messages.length;
out.threadAfter = (await client.threads.get(thread.thread_id)).status;

// a background run, joined from event 3 on, then one cancelled
const slowThread = await client.threads.create();
const run = await client.runs.create(slowThread.thread_id, "slow", {
  input,
  streamMode: ["values", "messages-tuple"],
});
const ids = [];
for await (const part of client.runs.joinStream(slowThread.thread_id, run.run_id, {
  lastEventId: "3",
})) {
  ids.push(Number(part.id));
}
out.joinedFrom = ids[0];
out.joinedContiguous = ids.every((id, i) => id === ids[0] + i);
out.joinedRunStatus = (await client.runs.get(slowThread.thread_id, run.run_id)).status;

const doomed = await client.runs.create(slowThread.thread_id, "slow", { input });
for (let i = 0; i < 200; i += 1) {
  const seen = await client.runs.get(slowThread.thread_id, doomed.run_id);
  if (seen.status === "running") break;
  await new Promise((resolve) => setTimeout(resolve, 25));
}
await client.runs.cancel(slowThread.thread_id, doomed.run_id, true);
out.cancelledStatus = (await client.runs.get(slowThread.thread_id, doomed.run_id)).status;

// an interrupt, answered with a Command
const asking = await client.threads.create();
let asked = null;
for await (const part of client.runs.stream(asking.thread_id, "approval", {
  input,
  streamMode: ["values"],
})) {
  if (part.event === "values" && part.data.__interrupt__) asked = part.data.__interrupt__[0];
}
out.askedQuestion = asked?.value?.question ?? null;
out.askedThread = (await client.threads.get(asking.thread_id)).status;
const answered = await client.runs.wait(asking.thread_id, "approval", {
  command: { resume: "yes" },
});
out.answered = answered.messages.at(-1).content;

// an invalid request: the error carries the server's detail
try {
  await client.runs.create(thread.thread_id, "agent", { input, streamMode: "tokens" });
  out.invalid = "accepted";
} catch (error) {
  out.invalid = String(error.message ?? error);
}

process.stdout.write(JSON.stringify(out));
