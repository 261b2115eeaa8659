// The tool approval page of the AI SDK documentation ("Chatbot Tool Usage": "Client-Side
// Approval UI" and "Auto-Submit After Approval"), with the chat's input form of "Chatbot";
// unchanged but for the tool's name and its input (an e-mail's `to`).
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses } from 'ai';
import { useState } from 'react';
import { createRoot } from 'react-dom/client';

export default function Chat() {
  const { messages, sendMessage, status, addToolApprovalResponse } = useChat({
    transport: new DefaultChatTransport({
      api: '/api/chat',
    }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  const [input, setInput] = useState('');

  return (
    <>
      {messages.map(message => (
        <div key={message.id} className={`message ${message.role}`}>
          {message.parts.map((part, index) => {
            if (part.type === 'text') {
              return <span key={index}>{part.text}</span>;
            }
            if (part.type === 'tool-send_email') {
              switch (part.state) {
                case 'approval-requested':
                  return (
                    <div key={part.toolCallId} className={`approval ${part.input.to}`}>
                      <p>Send an e-mail to {part.input.to}?</p>
                      {part.approval.requestReason && <p>{part.approval.requestReason}</p>}
                      <button onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: true })}>
                        Approve
                      </button>
                      <button onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: false })}>
                        Deny
                      </button>
                    </div>
                  );
                case 'approval-responded':
                  return (
                    <div key={part.toolCallId} className={`responded ${part.input.to}`}>
                      E-mail to {part.input.to} was {part.approval.approved ? 'approved' : 'denied'}.
                    </div>
                  );
                case 'output-available':
                  return (
                    <div key={part.toolCallId} className={`sent ${part.input.to}`}>
                      {part.output}
                    </div>
                  );
                case 'output-denied':
                  return (
                    <div key={part.toolCallId} className={`denied ${part.input.to}`}>
                      E-mail to {part.input.to} was denied.
                    </div>
                  );
              }
            }
            return null;
          })}
        </div>
      ))}

      <form
        onSubmit={e => {
          e.preventDefault();
          if (input.trim()) {
            sendMessage({ text: input });
            setInput('');
          }
        }}
      >
        <input value={input} onChange={e => setInput(e.target.value)} disabled={status !== 'ready'} />
        <button type="submit" disabled={status !== 'ready'}>
          Submit
        </button>
      </form>
      <output id="status">{status}</output>
    </>
  );
}

createRoot(document.getElementById('root')).render(<Chat />);
