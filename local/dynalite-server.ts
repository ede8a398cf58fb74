/** The local DynamoDB: dynalite on a loopback port. Usage: node local/dynalite-server.ts <port> */
import dynalite from 'dynalite';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: dynalite-server.ts <port>\n');
  process.exit(2);
}
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(port, '127.0.0.1', () => process.stdout.write(`dynalite listening on 127.0.0.1:${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
