import { test } from "uvu";
import * as assert from "uvu/assert";
import net from "node:net";
import { openLink } from "../../src/bus/link.ts";

// The fault link relays real connections: unfaulted, it must not slow them. A client that
// writes a request in two small pieces and waits for the answer (what a TLS record split or a
// protocol line and its payload are) met Nagle's algorithm in the relay, against the peer's
// delayed acknowledgement: about 40 ms a request, which kept a reconnected agent behind its
// peers for good (cosmos-cut-link ran to max-rounds).
test("an unfaulted link answers small exchanges without delay", async () => {
  const server = net.createServer((socket) => {
    let seen = 0;
    socket.on("data", (chunk) => {
      seen += chunk.length;
      while (seen >= 2) {
        seen -= 2;
        socket.write("k");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const link = await openLink(`nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const client = net.connect(Number(new URL(link.url).port), "127.0.0.1");
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const exchanges = 30;
  const started = performance.now();
  for (let i = 0; i < exchanges; i++) {
    const answered = new Promise((resolve) => client.once("data", resolve));
    client.write("a");
    await new Promise((resolve) => setTimeout(resolve, 1)); // two segments, as two TLS records would be
    client.write("b");
    await answered;
  }
  const msPerExchange = (performance.now() - started) / exchanges;
  client.destroy();
  await link.close();
  server.close();
  assert.ok(msPerExchange < 10, `${msPerExchange.toFixed(1)} ms per exchange through the link`);
});

test.run();
