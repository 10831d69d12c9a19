complete -c kafka-topic-parity -l source-config -d 'Client properties of the source cluster (Java or librdkafka keys), e.g. the mirror\'s consumer.config' -r -F
complete -c kafka-topic-parity -l source-bootstrap -d 'Source brokers (needed unless --source-config sets bootstrap.servers)' -r
complete -c kafka-topic-parity -l target-config -d 'Client properties of the target cluster, e.g. the mirror\'s producer.config' -r -F
complete -c kafka-topic-parity -l target-bootstrap -d 'Target brokers (needed unless --target-config sets bootstrap.servers)' -r
complete -c kafka-topic-parity -l timeout -d 'Give up on a cluster that does not answer within this time' -r
complete -c kafka-topic-parity -l include -d 'Source topics to include: a regular expression on the whole name, `,` meaning `|` (MirrorMaker\'s semantics). Internal topics are never selected' -r
complete -c kafka-topic-parity -l exclude -d 'Source topics to leave out, same syntax' -r
complete -c kafka-topic-parity -l ignore-config -d 'A config key to leave alone besides the default list (see README); repeatable; `*` matches any run of characters (`confluent.*`)' -r
complete -c kafka-topic-parity -l compare -d 'Which config values to compare: explicit per-topic overrides, or every effective value (broker defaults included)' -r -f -a "overrides\t'Explicit per-topic overrides only (DescribeConfigs source DYNAMIC_TOPIC_CONFIG): broker defaults legitimately differ between clusters'
effective\t'Every effective value, whatever its source'"
complete -c kafka-topic-parity -l format -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c kafka-topic-parity -l check-replication -d 'Compare replication factors too'
complete -c kafka-topic-parity -l check-data -d 'Compare per-partition record counts (high minus low watermark)'
complete -c kafka-topic-parity -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kafka-topic-parity -s V -l version -d 'Print version'
