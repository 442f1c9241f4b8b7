import { labelText } from './prometheus.js';

type Topics = Map<string, string[]>;

/**
 * The label text of a group's partition (`consumergroup="g",topic="t",partition="3"`), built
 * once and kept from one scrape to the next: a scrape writes it for several families, every
 * pair, every scrape. Each scrape starts a generation (`begin`); what it asks for is carried over
 * from the last one and the rest is dropped, so the cache holds only the pairs of the latest
 * snapshot.
 */
export class PartitionLabels {
  readonly #groupLabel: string;
  #current = new Map<string, Topics>();
  #previous = new Map<string, Topics>();

  /** `groupLabel`: `consumergroup`, `sharegroup`, or '' for a topic's partitions. */
  constructor(groupLabel: string) {
    this.#groupLabel = groupLabel;
  }

  begin(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  text(group: string, topic: string, partition: number): string {
    let topics = this.#current.get(group);
    if (topics === undefined) {
      topics = new Map();
      this.#current.set(group, topics);
    }
    let texts = topics.get(topic);
    if (texts === undefined) {
      texts = this.#previous.get(group)?.get(topic) ?? [];
      topics.set(topic, texts);
    }
    let text = texts[partition];
    if (text === undefined) {
      text = labelText(this.#groupLabel === '' ? { topic, partition } : { [this.#groupLabel]: group, topic, partition });
      texts[partition] = text;
    }
    return text;
  }
}
