// The AI SDK's own client against `tokentide serve`: DefaultChatTransport (what useChat uses)
// posts to /api/chat and reconnects to /api/chat/{id}/stream; readUIMessageStream folds the
// UI message chunks into the assistant message, exactly as useChat does.
//
// Usage: node ui_chat.mjs <server URL> <scenario> [model]
// Prints one JSON object (what the scenario saw) on stdout; pytest asserts on it.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [base, scenario, model] = process.argv.slice(2);
const chatId = `chat-${scenario}-${Date.now()}`;
const runIds = [];

// Records the run id header of each response: a test peeks at the run through /v1/runs.
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  const runId = response.headers.get('x-run-id');
  if (runId) runIds.push(runId);
  return response;
}

function transport() {
  return new DefaultChatTransport({
    api: `${base}/api/chat`,
    body: model ? { model } : {},
    fetch: recordingFetch,
  });
}

const userMessage = (text) => ({
  id: `user-${Date.now()}`,
  role: 'user',
  parts: [{ type: 'text', text }],
});

// Tees the chunk types aside; `onChunk` may abort the request.
function watched(stream, types, onChunk) {
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        types.push(chunk.type);
        controller.enqueue(chunk);
        onChunk?.(chunk, types);
      },
    }),
  );
}

async function read(stream, errors) {
  let last;
  try {
    for await (const message of readUIMessageStream({ stream, onError: (e) => errors.push(String(e?.message ?? e)) })) {
      last = message;
    }
  } catch (error) {
    errors.push(`${error?.name}: ${error?.message}`);
  }
  return last;
}

async function send(t, messages, { abortAfter, abortSignal, controller } = {}) {
  const types = [];
  const errors = [];
  const stream = await t.sendMessages({
    chatId,
    messages,
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal,
  });
  const onChunk = abortAfter
    ? (chunk, seen) => {
        if (seen.filter((type) => type === 'text-delta').length >= abortAfter) controller.abort();
      }
    : undefined;
  const message = await read(watched(stream, types, onChunk), errors);
  return { types, errors, message };
}

async function runRecord(runId) {
  const response = await fetch(`${base}/v1/runs/${runId}`);
  return response.json();
}

async function waitForEnd(runId, since) {
  for (;;) {
    const record = await runRecord(runId);
    if (['success', 'error', 'cancelled', 'failed'].includes(record.status)) {
      return { status: record.status, stoppedAfterMs: Date.now() - since, output: record.output };
    }
    if (Date.now() - since > 20000) return { status: record.status, stoppedAfterMs: null };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Asks for a long story and aborts the request after its third text delta.
async function storyAbortedAfter3() {
  const controller = new AbortController();
  return send(transport(), [userMessage('Tell me a long story.')], {
    abortAfter: 3,
    abortSignal: controller.signal,
    controller,
  });
}

const textOf = (message) =>
  (message?.parts ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');

const scenarios = {
  // A plain answer, streamed; then nothing is left to resume.
  async text() {
    const t = transport();
    const result = await send(t, [userMessage('Say hello.')]);
    const again = await t.reconnectToStream({ chatId });
    return { ...result, text: textOf(result.message), resumedAfterEnd: again !== null, runIds };
  },
  // An agent's tool calls and their results, in the message parts.
  async tools() {
    return { ...(await send(transport(), [userMessage('Weather and time in Paris?')])), runIds };
  },
  // A second turn: the first answer (with its tool parts) goes back as history.
  async followUp() {
    const t = transport();
    const first = await send(t, [userMessage('Weather and time in Paris?')]);
    const history = [userMessage('Weather and time in Paris?'), first.message, userMessage('Thanks!')];
    const second = await send(t, history);
    return { first: first.message, second: second.message, types: second.types, runIds };
  },
  // The model fails mid-answer.
  async error() {
    const result = await send(transport(), [userMessage('Fail, please.')]);
    return { ...result, text: textOf(result.message), runIds };
  },
  // The request names a model the server does not serve.
  async unknownModel() {
    try {
      await transport().sendMessages({
        chatId,
        messages: [userMessage('hi')],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      });
      return { rejected: false };
    } catch (error) {
      return { rejected: true, name: error?.name, message: String(error?.message), status: error?.statusCode };
    }
  },
  // The client aborts (useChat's stop(), a closed tab): the run is cancelled after the grace.
  async abort() {
    const result = await storyAbortedAfter3();
    const abortedAt = Date.now();
    const end = await waitForEnd(runIds[0], abortedAt);
    const resume = await transport().reconnectToStream({ chatId });
    return { ...result, text: textOf(result.message), end, resumedAfterStop: resume !== null, runIds };
  },
  // The AI SDK's documented stop endpoint: the run is cancelled at once.
  async stop() {
    const controller = new AbortController();
    let stoppedAt = 0;
    const stopping = [];
    const types = [];
    const stream = await transport().sendMessages({
      chatId,
      messages: [userMessage('Tell me a long story.')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: controller.signal,
    });
    const errors = [];
    const message = await read(
      watched(stream, types, (chunk, seen) => {
        if (chunk.type === 'text-delta' && seen.filter((x) => x === 'text-delta').length === 3) {
          stoppedAt = Date.now();
          stopping.push(
            fetch(`${base}/api/chat/${encodeURIComponent(chatId)}/stop`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({}),
            }).then((r) => r.json()),
          );
        }
      }),
      errors,
    );
    const [answer] = await Promise.all(stopping);
    const end = await waitForEnd(runIds[0], stoppedAt);
    return { types, errors, text: textOf(message), answer, end, runIds };
  },
  // A reload mid-answer: the connection closes, the page reconnects and gets the whole answer
  // (a replay from its start, then the rest live).
  async resume() {
    const first = await storyAbortedAfter3();
    const stream = await transport().reconnectToStream({ chatId });
    if (stream === null) return { first, resumed: null, runIds };
    const types = [];
    const errors = [];
    const message = await read(watched(stream, types), errors);
    const end = await waitForEnd(runIds[0], Date.now());
    const after = await transport().reconnectToStream({ chatId });
    return {
      firstText: textOf(first.message),
      resumed: { types, errors, text: textOf(message), id: message?.id, firstId: first.message?.id },
      end: { status: end.status },
      resumedAfterEnd: after !== null,
      runIds,
    };
  },
};

// Tool approvals: the agent pauses before two e-mails; the page approves one and rejects the
// other (as addToolApprovalResponse leaves the parts), and the next request goes on.
scenarios.approval = async () => {
  const t = transport();
  const question = userMessage('Weather in Paris, and tell Alice and Bob.');
  const first = await send(t, [question]);
  const asked = first.message.parts.filter((p) => p.state === 'approval-requested');
  const answered = {
    ...first.message,
    parts: first.message.parts.map((part) =>
      part.state !== 'approval-requested'
        ? part
        : {
            ...part,
            state: 'approval-responded',
            approval: part.input.to === 'alice'
              ? { id: part.approval.id, approved: true }
              : { id: part.approval.id, approved: false, reason: 'not Bob' },
          },
    ),
  };
  const types = [];
  const errors = [];
  const stream = await t.sendMessages({
    chatId,
    messages: [question, answered],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal: undefined,
  });
  const message = await (async () => {
    let last;
    for await (const m of readUIMessageStream({
      message: structuredClone(answered),
      stream: watched(stream, types),
      onError: (e) => errors.push(String(e?.message ?? e)),
    })) last = m;
    return last;
  })();
  return { first: { types: first.types, message: first.message }, asked, second: { types, errors, message }, runIds };
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await run()) + '\n');
