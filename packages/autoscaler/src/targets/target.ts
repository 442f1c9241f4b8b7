/**
 * Where replicas live. Kept small on purpose (KEDA's and HPA's scale subresource is the model):
 * read how many run, ask for a number, and close. Implementations: the local process pool here,
 * the Kubernetes scale subresource in its own module.
 */
export interface ScaleTarget {
  /** e.g. `local:validator-workers` or `kubernetes:deployment/default/validator`. */
  readonly name: string;
  /** Replicas running now (started and not stopping). */
  currentReplicas(): Promise<number>;
  /**
   * Of the current replicas, those ready to work (Ready pods; local workers whose readiness check
   * answers). Asked only when the policy reads it (`ScalingPolicy.readsReadyReplicas`), since it may
   * cost a request per cycle. A target without it cannot serve such a policy.
   */
  readyReplicas?(): Promise<number>;
  /** Asks for `replicas`; resolves when the request is accepted, not when every replica is ready. */
  setReplicas(replicas: number): Promise<void>;
  /** Stops what the target owns (the local pool drains its workers). */
  close(): Promise<void>;
}
