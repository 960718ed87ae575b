"""Templates, answer-option styles and prompt formats: zero-shot, few-shot, chain-of-thought."""
