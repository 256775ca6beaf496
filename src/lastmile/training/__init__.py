"""Training: practice cases made from real closed conversations (masked), and each team's
onboarding path of them, scored by a lead with the QA scorecard."""
