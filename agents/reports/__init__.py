"""Reports: the figures a livechat team runs on (docs/reports.md defines each one), per space,
over a range of days, grouped by day or week and broken down by agent, team, campaign, arm,
tag or entry page."""
