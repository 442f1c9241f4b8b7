package dev.lagscale.bench;

import java.io.InputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import tools.jackson.databind.node.ObjectNode;

/**
 * The JVM peer of bench/validator-throughput: what the validation service would be as a plain
 * Java Kafka consumer. Polls validation.requests (max.poll.records = the batch size), validates
 * each order (OrderValidation: JSON Schema, then the rule set's 24 rules), writes a result or
 * dead-letter row per message to SQLite in one transaction per poll, then commits the offsets
 * (commitSync). Runs until SIGTERM, which ends the poll, closes the consumer and the database.
 *
 *   java -Xmx512m -cp ... dev.lagscale.bench.ValidatorPeer --bootstrap 127.0.0.1:9092 --topic validation.requests
 *        --group g --batch-size 1000 --database peer.db --rule-set packages/validator/examples/orders.ruleset.json
 *
 * Prints one JSON line when it consumes (versions of the JVM and the libraries, heap and GC) and one when it stops.
 */
public final class ValidatorPeer {
  private ValidatorPeer() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> options = parseOptions(args);
    String topic = options.get("topic");
    RecordDecoder decoder = new RecordDecoder();
    OrderValidation validation = OrderValidation.load(Path.of(options.get("rule-set")), decoder.mapper);
    Properties consumerConfig = new Properties();
    consumerConfig.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, options.get("bootstrap"));
    consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, options.get("group"));
    consumerConfig.put(ConsumerConfig.CLIENT_ID_CONFIG, "lagscale-jvm-peer");
    consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerConfig.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, options.get("batch-size"));

    AtomicBoolean stopping = new AtomicBoolean(false);
    long results = 0;
    long deadLetters = 0;
    long batches = 0;
    try (ResultDatabase database = ResultDatabase.open(options.get("database"));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerConfig, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      Thread loop = Thread.currentThread();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        stopping.set(true);
        consumer.wakeup();
        try {
          loop.join(30_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }));
      consumer.subscribe(List.of(topic));
      System.out.println(startLine(decoder, database));
      try {
        while (!stopping.get()) {
          ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(500));
          if (records.isEmpty()) continue;
          long now = System.currentTimeMillis();
          List<ResultDatabase.ResultRow> resultRows = new ArrayList<>(records.count());
          List<ResultDatabase.DeadLetterRow> deadLetterRows = new ArrayList<>();
          Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
          try {
            for (ConsumerRecord<byte[], byte[]> message : records) {
              handle(message, now, validation, decoder, database, resultRows, deadLetterRows);
              next.put(new TopicPartition(message.topic(), message.partition()), new OffsetAndMetadata(message.offset() + 1));
            }
          } catch (RuntimeException e) {
            database.rollback();
            throw e;
          }
          database.write(resultRows, deadLetterRows);
          // Only once the rows are durable: a crash before this redelivers the batch, which the rows' keys make harmless.
          consumer.commitSync(next);
          results += resultRows.size();
          deadLetters += deadLetterRows.size();
          batches++;
        }
      } catch (WakeupException e) {
        if (!stopping.get()) throw e;
      }
    }
    System.out.println("{\"event\":\"stopped\",\"results\":" + results + ",\"deadLetters\":" + deadLetters + ",\"batches\":" + batches + "}");
  }

  /** Validates one message into a result row, or a dead-letter row when it cannot be validated. */
  private static void handle(
      ConsumerRecord<byte[], byte[]> message,
      long now,
      OrderValidation validation,
      RecordDecoder decoder,
      ResultDatabase database,
      List<ResultDatabase.ResultRow> results,
      List<ResultDatabase.DeadLetterRow> deadLetters) {
    RequestEnvelope request = RequestEnvelope.decode(message);
    DeadLetterReason failure = request.failure();
    RecordDecoder.Decoded decoded = null;
    if (failure == null && (!request.ruleSet().equals(validation.ruleSetName) || (request.ruleSetVersion() != null && request.ruleSetVersion() != validation.ruleSetVersion))) {
      String which = "\"" + request.ruleSet() + "\"" + (request.ruleSetVersion() == null ? "" : " version " + request.ruleSetVersion());
      failure = new DeadLetterReason("unknown_rule_set", "rule set " + which + " does not exist; create it, then replay this record");
    }
    if (failure == null) {
      decoded = decoder.decode(request.value());
      failure = decoded.failure();
    }
    String key = request.ok() ? request.jobId() + ":" + request.recordNumber() : null;
    if (failure != null) {
      Long recordNumber = request.recordNumber() > 0 ? request.recordNumber() : null;
      deadLetters.add(new ResultDatabase.DeadLetterRow(
          message.topic(), message.partition(), message.offset(), key, request.jobId(), recordNumber, failure, message.value(), now));
      return;
    }
    RecordRun run = validation.validate(decoded.value(), new RecordRun(request.jobId(), request.recordNumber(), now, database));
    String violations = run.violations.isEmpty() ? "[]" : decoder.mapper.writeValueAsString(run.violations);
    results.add(new ResultDatabase.ResultRow(
        message.topic(), message.partition(), message.offset(), key, request.jobId(), request.recordNumber(), run.valid(), violations, run.truncated, now));
  }

  private static final List<String> REQUIRED = List.of("bootstrap", "topic", "group", "batch-size", "database", "rule-set");

  private static Map<String, String> parseOptions(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i < args.length; i += 2) {
      String name = args[i];
      if (!name.startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("expected --name value pairs, got " + String.join(" ", args));
      options.put(name.substring(2), args[i + 1]);
    }
    for (String name : REQUIRED) if (!options.containsKey(name)) throw new IllegalArgumentException("missing --" + name + " (needed: --" + String.join(", --", REQUIRED) + ")");
    return options;
  }

  /** What ran: the JVM, its heap and GC, and the libraries' versions as they report themselves. */
  private static String startLine(RecordDecoder decoder, ResultDatabase database) throws Exception {
    ObjectNode line = decoder.mapper.createObjectNode();
    line.put("event", "consuming");
    ObjectNode jvm = line.putObject("jvm");
    jvm.put("version", System.getProperty("java.runtime.version"));
    jvm.put("vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
    jvm.put("vendor", System.getProperty("java.vendor"));
    jvm.put("maxHeapMb", Runtime.getRuntime().maxMemory() / (1024 * 1024));
    jvm.put("availableProcessors", Runtime.getRuntime().availableProcessors());
    var flags = jvm.putArray("flags");
    ManagementFactory.getRuntimeMXBean().getInputArguments().forEach(flags::add);
    var collectors = jvm.putArray("garbageCollectors");
    for (GarbageCollectorMXBean collector : ManagementFactory.getGarbageCollectorMXBeans()) collectors.add(collector.getName());
    ObjectNode libraries = line.putObject("libraries");
    libraries.put("kafka-clients", versionIn("/kafka/kafka-version.properties"));
    libraries.put("json-schema-validator", versionIn("/META-INF/maven/com.networknt/json-schema-validator/pom.properties"));
    libraries.put("jackson-databind", tools.jackson.databind.cfg.PackageVersion.VERSION.toString());
    libraries.put("sqlite-jdbc", database.driverVersion());
    libraries.put("sqlite", database.sqliteVersion());
    return decoder.mapper.writeValueAsString(line);
  }

  /** The `version` of a properties file a jar carries. */
  private static String versionIn(String resource) throws Exception {
    try (InputStream in = ValidatorPeer.class.getResourceAsStream(resource)) {
      if (in == null) return "unknown";
      Properties properties = new Properties();
      properties.load(in);
      return properties.getProperty("version", "unknown");
    }
  }
}
