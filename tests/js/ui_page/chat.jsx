// A chat page as the AI SDK documentation writes it (ai-sdk.dev, "Chatbot": the example with
// the Stop button; "Chatbot Tool Usage": tool parts by state; "Chatbot Resume Streams":
// `id` and `resume: true`), put together unchanged but for where the chat id comes from (the
// page's ?chat= parameter, so that a reload keeps it) and the tool names. Bundled by the
// test with esbuild and served beside `tokentide serve`'s /api/chat.
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';
import { useState } from 'react';
import { createRoot } from 'react-dom/client';

const chatId = new URLSearchParams(window.location.search).get('chat');

function Spinner() {
  return <span className="spinner">…</span>;
}

export default function Page() {
  const { messages, sendMessage, status, stop } = useChat({
    id: chatId,
    resume: true,
    transport: new DefaultChatTransport({
      api: '/api/chat',
    }),
  });
  const [input, setInput] = useState('');

  return (
    <>
      {messages.map(message => (
        <div key={message.id} className={`message ${message.role}`}>
          {message.role === 'user' ? 'User: ' : 'AI: '}
          {message.parts.map((part, index) => {
            switch (part.type) {
              case 'text':
                return <span key={index}>{part.text}</span>;
              case 'tool-get_weather':
              case 'tool-get_time': {
                const callId = part.toolCallId;
                switch (part.state) {
                  case 'input-streaming':
                    return <pre key={callId} className="tool streaming">{JSON.stringify(part.input, null, 2)}</pre>;
                  case 'input-available':
                    return <div key={callId} className="tool calling">Calling {part.type.slice(5)} for {part.input.city}...</div>;
                  case 'output-available':
                    return <div key={callId} className="tool done">{part.output}</div>;
                  case 'output-error':
                    return <div key={callId} className="tool failed">Error: {part.errorText}</div>;
                }
                break;
              }
            }
            return null;
          })}
        </div>
      ))}

      {(status === 'submitted' || status === 'streaming') && (
        <div>
          {status === 'submitted' && <Spinner />}
          <button type="button" onClick={() => stop()}>
            Stop
          </button>
        </div>
      )}

      <form
        onSubmit={e => {
          e.preventDefault();
          if (input.trim()) {
            sendMessage({ text: input });
            setInput('');
          }
        }}
      >
        <input
          value={input}
          onChange={e => setInput(e.target.value)}
          disabled={status !== 'ready'}
          placeholder="Say something..."
        />
        <button type="submit" disabled={status !== 'ready'}>
          Submit
        </button>
      </form>
      <output id="status">{status}</output>
    </>
  );
}

createRoot(document.getElementById('root')).render(<Page />);
