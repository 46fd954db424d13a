/**
 * A real DNS server on 127.0.0.1 for the resolve recorder and the DNS integration tests: the npm
 * package `dns2`'s UDP server answering from a zone the caller changes between queries (A, AAAA and
 * SRV records with chosen TTLs; an unknown name is NXDOMAIN; a name with `rcode` answers that code;
 * a `silent` name is never answered). Every query is logged with its time. The caller stops it.
 */

import dns2 from 'dns2';

const { Packet } = dns2;

export interface ZoneAddress {
  address: string;
  ttl: number;
}

export interface ZoneService {
  priority: number;
  weight: number;
  port: number;
  target: string;
  ttl: number;
}

/** One name's answers. */
export interface ZoneName {
  A?: ZoneAddress[];
  AAAA?: ZoneAddress[];
  SRV?: ZoneService[];
  /** Answer every query with this RCODE and no records (2 = SERVFAIL, 5 = REFUSED). */
  rcode?: number;
  /** Never answer. */
  silent?: boolean;
}

export interface QueryLogEntry {
  /** `performance.now()` when the query arrived. */
  at: number;
  type: string;
  name: string;
}

type Answer = InstanceType<typeof Packet>['answers'][number];
/** A plain record object as dns2's encoder reads it (its `Resource` type also names methods the encoder never calls). */
const record = (fields: Record<string, unknown>): Answer => fields as unknown as Answer;

const TYPES: Readonly<Record<number, 'A' | 'AAAA' | 'SRV'>> = { [Packet.TYPE.A]: 'A', [Packet.TYPE.AAAA]: 'AAAA', [Packet.TYPE.SRV]: 'SRV' };

export class ZoneServer {
  readonly zone = new Map<string, ZoneName>();
  readonly log: QueryLogEntry[] = [];
  #server: ReturnType<typeof dns2.createUDPServer> | undefined;
  port = 0;

  /** Sets (or with `undefined` removes: NXDOMAIN) a name's answers. */
  set(name: string, answers: ZoneName | undefined): void {
    if (answers === undefined) this.zone.delete(name.toLowerCase());
    else this.zone.set(name.toLowerCase(), answers);
  }

  /** Listens on 127.0.0.1, on `port` or a free one; resolves with the port. */
  async start(port = 0): Promise<number> {
    const server = dns2.createUDPServer((request, send) => {
      const question = request.questions[0];
      if (question === undefined) return;
      const type = TYPES[question.type] ?? `TYPE${question.type}`;
      this.log.push({ at: performance.now(), type, name: question.name });
      const entry = this.zone.get(question.name.toLowerCase());
      if (entry?.silent) return;
      const response = Packet.createResponseFromRequest(request);
      response.header.aa = 1;
      if (entry === undefined) response.header.rcode = 3;
      else if (entry.rcode !== undefined) response.header.rcode = entry.rcode;
      else if (type === 'A' || type === 'AAAA') {
        for (const r of entry[type] ?? []) {
          response.answers.push(record({ name: question.name, type: question.type, class: Packet.CLASS.IN, ttl: r.ttl, address: r.address }));
        }
      } else if (type === 'SRV') {
        for (const r of entry.SRV ?? []) {
          response.answers.push(record({ name: question.name, type: Packet.TYPE.SRV, class: Packet.CLASS.IN, ttl: r.ttl, priority: r.priority, weight: r.weight, port: r.port, target: r.target }));
        }
      }
      void send(response);
    });
    this.#server = server;
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.bind(port, '127.0.0.1', () => {
        server.off('error', fail);
        done();
      });
    });
    this.port = server.address().port;
    return this.port;
  }

  /** Queries of `name` (and `type`) logged after `since`. */
  queriesSince(since: number, name: string, type?: string): QueryLogEntry[] {
    return this.log.filter((q) => q.at >= since && q.name.toLowerCase() === name.toLowerCase() && (type === undefined || q.type === type));
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((done) => server.close(() => done()));
  }
}
