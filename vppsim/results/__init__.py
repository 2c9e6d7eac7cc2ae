"""Result folders of runs, games and Monte Carlo batches: tables, summaries, reports, figures."""
