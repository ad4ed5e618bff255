// A second MCP client for `kelpie mcp`, one the project did not write: the official TypeScript SDK's. McpServerIT
// runs it with node; it prints one "key: value" line per step and exits non-zero on the first failure.
//   node mcp-client-check.mjs KELPIE_LAUNCHER SOCKET [kelpie mcp options...]   (stdio: starts kelpie mcp itself)
//   node mcp-client-check.mjs http://127.0.0.1:PORT/mcp                       (Streamable HTTP: a running kelpie mcp --http)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [launcher, socket, ...mcpOptions] = process.argv.slice(2);
const overHttp = /^https?:\/\//.test(launcher ?? '');
if (!launcher || (!socket && !overHttp)) {
  console.error('usage: node mcp-client-check.mjs KELPIE_LAUNCHER SOCKET [kelpie mcp options...] | URL');
  process.exit(2);
}

const transport = overHttp
  ? new StreamableHTTPClientTransport(new URL(launcher))
  : new StdioClientTransport({
    command: launcher,
    args: ['--socket', socket, 'mcp', ...mcpOptions],
    env: { ...process.env },
    stderr: 'inherit',
  });
const client = new Client({ name: 'kelpie-ts-check', version: '1.0.0' });

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

async function call(name, args) {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 600_000 });
  if (result.isError) {
    throw new Error(`${name} failed: ${text(result)}`);
  }
  return result;
}

try {
  await client.connect(transport);
  console.log(`server: ${client.getServerVersion().name} ${client.getServerVersion().version}`);
  const { tools } = await client.listTools();
  console.log(`tools: ${tools.map((t) => t.name).sort().join(',')}`);
  const created = await call('create_sandbox', {});
  const id = created.structuredContent.sandbox_id;
  console.log(`created: ${id}`);
  const echo = await call('run_command', { sandbox_id: id, command: ['echo', 'hello from node'] });
  console.log(`exit_code: ${echo.structuredContent.exit_code}`);
  console.log(`stdout: ${echo.structuredContent.stdout.trim()}`);
  if (overHttp) {
    // Over HTTP the session outlives the connection: the client ends it with DELETE, as the spec asks, and the
    // server deletes the session's sandboxes before it answers.
    await transport.terminateSession();
    console.log(`terminated: ${id}`);
  } else {
    await call('delete_sandbox', { sandbox_id: id });
    console.log(`deleted: ${id}`);
  }
  await client.close();
  console.log('closed');
} catch (e) {
  console.error(`mcp-client-check: ${e.stack ?? e}`);
  await client.close().catch(() => {});
  process.exit(1);
}
