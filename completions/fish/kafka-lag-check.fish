complete -c kafka-lag-check -l bootstrap-server -l bootstrap-servers -d 'Brokers to bootstrap from' -r
complete -c kafka-lag-check -l command-config -d 'Client properties file (Java or librdkafka keys): TLS, SASL, client.id, ...' -r -F
complete -c kafka-lag-check -s X -l property -d 'Extra client property, repeatable; overrides the file' -r
complete -c kafka-lag-check -s g -l group -d 'A consumer group to check; repeatable' -r
complete -c kafka-lag-check -l group-regex -d 'Check every group whose whole id matches this regular expression' -r
complete -c kafka-lag-check -s t -l topic -d 'Only these topics (repeatable); every partition of them is listed, committed or not' -r
complete -c kafka-lag-check -l format -d 'Output format' -r -f -a "table\t'Tables for people: groups, topics, partitions'
json\t'One JSON document (keys documented in README.md)'
nagios\t'One Nagios/Icinga plugin line with perfdata'
prometheus\t'Prometheus text exposition format (for node_exporter\'s textfile collector or a push)'"
complete -c kafka-lag-check -s w -l warning -d 'WARNING when a group\'s total lag (records) is outside this Nagios range (1000, ~:1000, 10:, @10:20)' -r
complete -c kafka-lag-check -s c -l critical -d 'CRITICAL when a group\'s total lag (records) is outside this Nagios range' -r
complete -c kafka-lag-check -l warning-time -d 'WARNING when a group\'s largest time lag is above this duration (90s, 5m, 1h)' -r
complete -c kafka-lag-check -l critical-time -d 'CRITICAL when a group\'s largest time lag is above this duration' -r
complete -c kafka-lag-check -l timeout -d 'Give up (UNKNOWN) when the whole check takes longer than this' -r
complete -c kafka-lag-check -l zookeeper -d 'Old ConsumerOffsetChecker flag, refused with an explanation' -r
complete -c kafka-lag-check -l zkconnect -d 'Old ConsumerOffsetChecker flag, refused with an explanation' -r
complete -c kafka-lag-check -l all-groups -d 'Check every consumer group of the cluster'
complete -c kafka-lag-check -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kafka-lag-check -s V -l version -d 'Print version'
