"""The ranker: candidate generation, signals, the one scoring formula, rules, diversity, reasons."""
