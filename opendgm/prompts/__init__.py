"""Prompt evolution in the campaign archive: datasets, scoring, and the PE2, APE, OPRO and MPO operators.

API
    data: Example(id, input, target); Dataset(name, version, train, dev, test).split(split);
          load_jsonl(path, sizes=None, seed=0); split_examples(...)
    generators.generate(name, sizes=(20, 20, 50), seed=0) -> Dataset   built-ins: arithmetic, base8, base9,
          base11, base16, second_letter, reverse, sort_words (seeded, offline)
    scoring.ExactMatch()(output, target) -> bool   answer extraction + normalised exact match, versioned
    template.render(prompt, question, placement)     PE2's "full template": prompt before the input or after A:
    template.missing_placeholders(original, rewrite) -> the $names a rewritten template lost
    target.attempt(complete, scorer, prompt, example, placement) -> Attempt(example, output, correct)
    target.completer(router, role, node, purpose) -> Complete    calls charged to `node` in the ledger
    pe2: Settings, Candidate, select_beam (back-tracking), hard_negatives (errors only), proposal_turns,
         propose(complete, meta_prompt, prompt, batch, placement, settings, lineage, context) -> Proposal
    ape: Settings, demo_sets (train only), induce, paraphrase (iterative APE)
    opro: Settings, Scored, top_k (ascending, best last, deduplicated), history_block (train scores 0-100), propose
    mpo: criteria, merge (criteria deduplicated), hacking_alarm(proxy, gold) -> Alarm (judge up, gold not);
         Sample, judge, refine_one (meta-analysis + meta-refinement), merge_rubrics (meta-merging), propose
    rubrics: seed_rubric, Settings, RubricLoop(archive, rubric_id, judge, mrm, settings).score(samples): rubric
         nodes, mpo_interval events, reward_hacking_alarm events, scored_under edges; RubricLoop.resume(...)
    judged.JudgedDev: a prompt's dev outputs judged under the loop's current rubric (`judge:` configs)
    meta_prompts: the meta-prompts that drive every operator (agent campaigns' diagnosis and self-improvement
         too), one population per role: ROLES, ensure_seeds, Chooser (UCB1 on archive.credit fitness),
         hyper_mutate (PromptBreeder), text_for; seed texts in meta/
    config.PromptCampaignConfig (`kind: prompt`, operator pe2 | ape | opro, meta_prompts: UCB1 + hyper-mutation),
    the campaign loop that drives these operators is `opendgm.evolve.prompt_campaign.PromptCampaign` (campaign
    loops live in evolve/, above the evaluators and the executors they use)

`complete` is `(messages, temperature) -> text`: a Router adapter in campaigns, a plain function in tests.
"""

from opendgm.prompts import ape, meta_prompts, opro, pe2
from opendgm.prompts.charged import call_for
from opendgm.prompts.config import SEARCH_ONLY, MetaPromptOptions, MPOOptions, PE2Options, PromptCampaignConfig
from opendgm.prompts.data import Example, Split
from opendgm.prompts.judged import JudgedDev
from opendgm.prompts.meta_prompts import SPECIAL_ENTRIES
from opendgm.prompts.mpo import Judged, Sample
from opendgm.prompts.rubrics import RubricLoop
from opendgm.prompts.scoring import ExactMatch
from opendgm.prompts.target import Attempt, Complete, accuracy, attempt, completer
from opendgm.prompts.template import missing_placeholders

__all__ = [
    "SEARCH_ONLY",
    "SPECIAL_ENTRIES",
    "Attempt",
    "Complete",
    "ExactMatch",
    "Example",
    "Judged",
    "JudgedDev",
    "MPOOptions",
    "MetaPromptOptions",
    "PE2Options",
    "PromptCampaignConfig",
    "RubricLoop",
    "Sample",
    "Split",
    "accuracy",
    "ape",
    "attempt",
    "call_for",
    "completer",
    "meta_prompts",
    "missing_placeholders",
    "opro",
    "pe2",
]
