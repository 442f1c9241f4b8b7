package dev.lagscale.bench;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsResult;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * The "practical floor" baseline of the lag-collection benchmark: one warm JVM repeats the full lag
 * collection cycle of a lag exporter with Kafka's own AdminClient and times each cycle.
 *
 * <p>One cycle: list consumer groups (unless --groups is given), describe them, fetch the committed
 * offsets of ALL groups in one listConsumerGroupOffsets call, then the latest and earliest offsets of
 * every partition those groups committed, and lag per (group, partition). Independent requests are in
 * flight together (describe with committed offsets; latest with earliest), as a tuned exporter does.
 *
 * <p>Usage: {@code --bootstrap host:port --iterations N --warmup W [--groups g1,g2] [--admin-config k=v]...}.
 * One JSON line on stdout at the end; per-cycle progress (with phase times) on stderr.
 *
 * <p>The AdminClient runs with its stock settings unless --admin-config overrides one. Note that with
 * stock settings describeConsumerGroups of classic groups costs one retry.backoff.ms (100 ms): the 4.x
 * client first tries the ConsumerGroupDescribe API, and on GROUP_ID_NOT_FOUND retries with DescribeGroups.
 */
public final class AdminClientBaseline {
  private AdminClientBaseline() {}

  /** Result of one cycle; the checksums keep the JIT from discarding any of the work. Phase times in ns. */
  private record Cycle(long pairs, long lagSum, long members, long listNs, long groupsNs, long offsetsNs) {}

  public static void main(String[] args) throws Exception {
    String bootstrap = null;
    int iterations = 20;
    int warmup = 5;
    List<String> fixedGroups = null;
    Map<String, String> adminConfig = new java.util.TreeMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String value = i + 1 < args.length ? args[i + 1] : null;
      switch (arg) {
        case "--bootstrap" -> bootstrap = require(arg, value);
        case "--iterations" -> iterations = Integer.parseInt(require(arg, value));
        case "--warmup" -> warmup = Integer.parseInt(require(arg, value));
        case "--admin-config" -> {
          String kv = require(arg, value);
          int eq = kv.indexOf('=');
          if (eq <= 0) usage("--admin-config needs key=value, got " + kv);
          adminConfig.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        case "--groups" -> fixedGroups = Arrays.stream(require(arg, value).split(","))
            .map(String::trim)
            .filter(s -> !s.isEmpty())
            .collect(Collectors.toList());
        default -> usage("unknown argument: " + arg);
      }
      i++;
    }
    if (bootstrap == null) usage("--bootstrap is required");
    if (iterations < 1) usage("--iterations must be at least 1");
    if (warmup < 0) usage("--warmup must not be negative");

    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "lagscale-bench-java-adminclient");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
    props.putAll(adminConfig);

    double[] samples = new double[iterations];
    long pairs = 0;
    long lagSum = 0;
    long checksum = 0;
    try (Admin admin = Admin.create(props)) {
      for (int i = 0; i < warmup + iterations; i++) {
        long start = System.nanoTime();
        Cycle cycle = collect(admin, fixedGroups);
        double ms = (System.nanoTime() - start) / 1e6;
        checksum += cycle.lagSum() + cycle.members();
        boolean measured = i >= warmup;
        if (measured) {
          samples[i - warmup] = ms;
          pairs = cycle.pairs();
          lagSum = cycle.lagSum();
        }
        System.err.printf(Locale.ROOT, "%s %d: %.2f ms (list %.2f, describe+committed %.2f, listOffsets %.2f; %d pairs, lag %d)%n",
            measured ? "iteration" : "warmup", measured ? i - warmup + 1 : i + 1, ms,
            cycle.listNs() / 1e6, cycle.groupsNs() / 1e6, cycle.offsetsNs() / 1e6, cycle.pairs(), cycle.lagSum());
      }
    }

    double[] sorted = samples.clone();
    Arrays.sort(sorted);
    double median = sorted.length % 2 == 1
        ? sorted[sorted.length / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    System.gc();
    double heapUsedMb = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / (1024.0 * 1024.0);

    StringBuilder json = new StringBuilder(256);
    json.append("{\"tool\":\"java-adminclient\",\"iterations\":").append(iterations)
        .append(",\"warmup\":").append(warmup)
        .append(",\"samplesMs\":[");
    for (int i = 0; i < samples.length; i++) {
      if (i > 0) json.append(',');
      json.append(num(samples[i]));
    }
    json.append("],\"medianMs\":").append(num(median))
        .append(",\"minMs\":").append(num(sorted[0]))
        .append(",\"pairs\":").append(pairs)
        .append(",\"lagSum\":").append(lagSum)
        .append(",\"heapUsedMb\":").append(num(heapUsedMb))
        .append(",\"checksum\":").append(checksum)
        .append(",\"adminConfig\":{");
    boolean first = true;
    for (Map.Entry<String, String> entry : adminConfig.entrySet()) {
      if (!first) json.append(',');
      first = false;
      json.append(quote(entry.getKey())).append(':').append(quote(entry.getValue()));
    }
    json.append("}}");
    System.out.println(json);
  }

  private static Cycle collect(Admin admin, List<String> fixedGroups) throws ExecutionException, InterruptedException {
    long start = System.nanoTime();
    Collection<String> groups = fixedGroups;
    if (groups == null) {
      Collection<GroupListing> listings = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get();
      List<String> ids = new ArrayList<>(listings.size());
      for (GroupListing listing : listings) ids.add(listing.groupId());
      groups = ids;
    }
    long listed = System.nanoTime();
    if (groups.isEmpty()) return new Cycle(0, 0, 0, listed - start, 0, 0);

    // Describe and committed offsets are independent: both go out before either is awaited.
    KafkaFuture<Map<String, ConsumerGroupDescription>> described = admin.describeConsumerGroups(groups).all();
    Map<String, ListConsumerGroupOffsetsSpec> specs = new HashMap<>(groups.size() * 2);
    for (String group : groups) specs.put(group, new ListConsumerGroupOffsetsSpec());
    ListConsumerGroupOffsetsResult committedResult = admin.listConsumerGroupOffsets(specs);
    Map<String, Map<TopicPartition, OffsetAndMetadata>> committed = committedResult.all().get();
    Map<String, ConsumerGroupDescription> descriptions = described.get();
    long grouped = System.nanoTime();

    long members = 0;
    for (ConsumerGroupDescription description : descriptions.values()) members += description.members().size();

    Set<TopicPartition> partitions = new HashSet<>();
    for (Map<TopicPartition, OffsetAndMetadata> offsets : committed.values()) {
      for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : offsets.entrySet()) {
        if (entry.getValue() != null) partitions.add(entry.getKey());
      }
    }
    if (partitions.isEmpty()) return new Cycle(0, 0, members, listed - start, grouped - listed, 0);

    Map<TopicPartition, OffsetSpec> latestSpec = new HashMap<>(partitions.size() * 2);
    Map<TopicPartition, OffsetSpec> earliestSpec = new HashMap<>(partitions.size() * 2);
    OffsetSpec latest = OffsetSpec.latest();
    OffsetSpec earliest = OffsetSpec.earliest();
    for (TopicPartition tp : partitions) {
      latestSpec.put(tp, latest);
      earliestSpec.put(tp, earliest);
    }
    ListOffsetsResult latestResult = admin.listOffsets(latestSpec);
    ListOffsetsResult earliestResult = admin.listOffsets(earliestSpec);
    Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = latestResult.all().get();
    Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> starts = earliestResult.all().get();
    long offsetsDone = System.nanoTime();

    long pairs = 0;
    long lagSum = 0;
    for (Map<TopicPartition, OffsetAndMetadata> offsets : committed.values()) {
      for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : offsets.entrySet()) {
        OffsetAndMetadata offset = entry.getValue();
        if (offset == null) continue;
        ListOffsetsResult.ListOffsetsResultInfo logEnd = ends.get(entry.getKey());
        ListOffsetsResult.ListOffsetsResultInfo logStart = starts.get(entry.getKey());
        if (logEnd == null || logStart == null) continue;
        // Records below the log start are gone: they no longer count as lag.
        long position = Math.max(offset.offset(), logStart.offset());
        lagSum += Math.max(0, logEnd.offset() - position);
        pairs++;
      }
    }
    return new Cycle(pairs, lagSum, members, listed - start, grouped - listed, offsetsDone - grouped);
  }

  private static String num(double value) {
    return String.format(Locale.ROOT, "%.3f", value);
  }

  private static String quote(String text) {
    StringBuilder out = new StringBuilder(text.length() + 2).append('"');
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }

  private static String require(String flag, String value) {
    if (value == null) usage(flag + " needs a value");
    return value;
  }

  private static void usage(String problem) {
    System.err.println(problem);
    System.err.println("usage: AdminClientBaseline --bootstrap host:port [--iterations N] [--warmup W] [--groups g1,g2,...] [--admin-config key=value]...");
    System.exit(2);
  }
}
