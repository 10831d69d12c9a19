complete -c kafka-mirror -l consumer.config -l consumer-config -d 'Consumer properties of a source cluster (bootstrap.servers and group.id required). Repeat for several source clusters, each mirrored with its own consumer group' -r -F
complete -c kafka-mirror -l producer.config -l producer-config -d 'Producer properties of the target cluster (bootstrap.servers required; acks must be all if set)' -r -F
complete -c kafka-mirror -l include -d 'Topics to mirror: a regular expression matched against the whole name; \',\' means \'|\'. Internal topics are never mirrored' -r
complete -c kafka-mirror -l whitelist -d 'Old name of --include' -r
complete -c kafka-mirror -l exclude -d 'Topics not to mirror, even when --include matches them' -r
complete -c kafka-mirror -l blacklist -d 'Old name of --exclude' -r
complete -c kafka-mirror -l topic-refresh-interval -d 'How often to look for topics that start matching the filter (and partitions added to mirrored topics)' -r
complete -c kafka-mirror -l partition-mode -d 'Where records go in the target topic: the source\'s partition number, or the Java producer\'s key hash' -r -f -a "preserve\t'The same partition number as in the source'
hash\t'The Java producer\'s murmur2 key hash (records without a key keep their source partition modulo the target\'s partition count)'"
complete -c kafka-mirror -l num.streams -l num-streams -d 'Consumers per source cluster (all in the cluster\'s consumer group)' -r
complete -c kafka-mirror -l num.producers -l num-producers -d 'Producers to the target; a source partition always uses the same one' -r
complete -c kafka-mirror -l queue.size -l queue-size -d 'Records in flight (consumed, not yet acknowledged by the target) at most; when reached, fetching pauses' -r
complete -c kafka-mirror -l abort.on.send.failure -l abort-on-send-failure -d 'Stop (exit 3) when a record cannot be delivered; with false the record is skipped, counted and logged' -r -f -a "true\t''
false\t''"
complete -c kafka-mirror -l offset.commit.interval.ms -l offset-commit-interval-ms -d 'How often acknowledged offsets are committed to the source cluster' -r
complete -c kafka-mirror -l shutdown-timeout -d 'On SIGINT/SIGTERM (or a send failure), how long to wait for records in flight before committing only what was acknowledged' -r
complete -c kafka-mirror -l connect-timeout -d 'How long each cluster may take to answer at start' -r
complete -c kafka-mirror -l metrics-addr -d 'Serve Prometheus metrics on http://ADDR/metrics and `ok` on /healthz' -r
complete -c kafka-mirror -l report-interval -d 'How often the one-line summary is logged on stderr (0s: never)' -r
complete -c kafka-mirror -l no-create-topics -d 'Do not create missing target topics (nor add partitions); a missing or too small target topic is then an error'
complete -c kafka-mirror -l until-caught-up -d 'Exit 0 once every selected partition has been mirrored and committed up to the end offset it had at start (commits then happen at least every second)'
complete -c kafka-mirror -l no-progress -d 'No live progress display, even when stderr is a terminal'
complete -c kafka-mirror -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kafka-mirror -s V -l version -d 'Print version'
