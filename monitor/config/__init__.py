"""Settings: config.toml and the environment read into typed settings, checked whole.

May import `monitor.core` only. Reading the file and the environment happens here, once, at
the edge; everything below receives settings as arguments.

- `settings`: `Config` and `load_config` — find the file, read it, validate it, then the
  FUNDMON_DB / --db overrides.
- `file`: `ConfigFile`, the list of sections, validated together (and checks across them).
- one model per section, with its defaults and limits: `sections` ([store], [import],
  [source], [[funds]], [thresholds], [forecast], [templates]), `alerts` ([alerts], [smtp]),
  `bulletin`, `compute`, `service` ([schedule], [ingest]); each with its accessor
  (`alert_settings(config)` …).
- `fields`: the kinds of value (durations, addresses, paths relative to the file …);
  `messages`: every problem worded in Chinese and English; `problems`: pydantic's errors as
  `ConfigProblems`, with keys and lines.
- `check`: what the models cannot check — the environment variables, the threshold profile.
"""
