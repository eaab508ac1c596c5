"""The evaluation engine: task files resolved into tasks (`taskconfig`, `task`, `stages`),
requests built from samples (`prompts`, `request_builder`), generation through the cache
(`generation`, `cache`), scoring (`scoring`), tallies and result files (`tally`, `results`,
`result_parts`), and the runs built on them (`run`, `controls`, `merge`, `audit`,
`judge_agreement`)."""
