"""Running a campaign over a Ray cluster."""
