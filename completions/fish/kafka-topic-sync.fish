complete -c kafka-topic-sync -l source-config -d 'Client properties of the source cluster (Java or librdkafka keys), e.g. the mirror\'s consumer.config' -r -F
complete -c kafka-topic-sync -l source-bootstrap -d 'Source brokers (needed unless --source-config sets bootstrap.servers)' -r
complete -c kafka-topic-sync -l target-config -d 'Client properties of the target cluster, e.g. the mirror\'s producer.config' -r -F
complete -c kafka-topic-sync -l target-bootstrap -d 'Target brokers (needed unless --target-config sets bootstrap.servers)' -r
complete -c kafka-topic-sync -l timeout -d 'Give up on a cluster that does not answer within this time' -r
complete -c kafka-topic-sync -l include -d 'Source topics to include: a regular expression on the whole name, `,` meaning `|` (MirrorMaker\'s semantics). Internal topics are never selected' -r
complete -c kafka-topic-sync -l exclude -d 'Source topics to leave out, same syntax' -r
complete -c kafka-topic-sync -l ignore-config -d 'A config key to leave alone besides the default list (see README); repeatable; `*` matches any run of characters (`confluent.*`)' -r
complete -c kafka-topic-sync -l replication-factor -d 'Replication factor of created topics [default: the source\'s, capped at the target\'s broker count]' -r
complete -c kafka-topic-sync -l format -d 'Output format of the plan and the results' -r -f -a "table\t''
json\t''"
complete -c kafka-topic-sync -l apply -d 'Carry the plan out (without it nothing is changed)'
complete -c kafka-topic-sync -s h -l help -d 'Print help'
complete -c kafka-topic-sync -s V -l version -d 'Print version'
