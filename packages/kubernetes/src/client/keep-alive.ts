import { createHash } from 'node:crypto';
import https from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

/**
 * A KubeConfig whose API clients reuse their connections. The client library makes a new
 * `https.Agent` for every request, so each request pays a TLS handshake on both sides (a shard
 * set's Lease renewals every 2 s, three requests a round, cost a controller more CPU than its
 * whole lag cycle). Here the agent of a request is swapped for a keep-alive agent shared by every
 * request with the same server and TLS material (the material is read again for each request,
 * so rotated certificates get a new agent). Watches do not go through this path; they are
 * long-lived already. Headers (bearer tokens) are set per request as before.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  readonly #agents = new Map<string, https.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (!(made instanceof https.Agent) || made.constructor !== https.Agent) return; // a proxy agent: left as it is
    const options = made.options as https.AgentOptions;
    const hash = createHash('sha256');
    for (const part of [this.getCurrentCluster()?.server, options.ca, options.cert, options.key, options.pfx, options.passphrase, options.servername])
      hash.update(part === undefined ? '-' : Buffer.isBuffer(part) ? part : String(part)).update('\0');
    hash.update(String(options.rejectUnauthorized));
    const key = hash.digest('hex');
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      // A handful of idle connections is plenty for a controller; more are made under bursts.
      agent = new https.Agent({ ...options, keepAlive: true, maxFreeSockets: 8 });
      if (this.#agents.size >= 16) this.#closeAll();
      this.#agents.set(key, agent);
    }
    context.setAgent(agent);
  }

  #closeAll(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
