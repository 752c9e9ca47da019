"""Prompt evolution in the campaign archive: datasets, scoring, and the PE2 operator.

API
    data: Example(id, input, target); Dataset(name, version, train, dev, test).split(split);
          load_jsonl(path, sizes=None, seed=0); split_examples(...)
    generators.generate(name, sizes=(20, 20, 50), seed=0) -> Dataset   built-ins: arithmetic, base8, base9,
          base11, base16, second_letter, reverse, sort_words (seeded, offline)
    scoring.ExactMatch()(output, target) -> bool   answer extraction + normalised exact match, versioned
    template.render(prompt, question, placement)     PE2's "full template": prompt before the input or after A:
    target.attempt(complete, scorer, prompt, example, placement) -> Attempt(example, output, correct)
    pe2: Settings, Candidate, select_beam (back-tracking), hard_negatives (errors only), proposal_turns,
         propose(complete, meta_prompt, prompt, batch, placement, settings, lineage) -> Proposal(text, reasoning)
    mpo: criteria, merge (criteria deduplicated), hacking_alarm(proxy, gold) -> Alarm (judge up, gold not)
    config.PromptCampaignConfig (`kind: prompt`), campaign.PromptCampaign(config, archive, router).run() -> Report

`complete` is `(messages, temperature) -> text`: a Router adapter in campaigns, a plain function in tests.
"""
