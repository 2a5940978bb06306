-- Alerts of the last day, oldest first, with how long each episode lasted.
-- An episode is an ALERT and the RESOLVED that ends it (same episode_id); repeats share it too.
SELECT a.time, a.event, a.rule, a.symbol, a.metric, a.value, a.window_avg,
       r.time - a.time AS lasted          -- NULL while still firing
FROM alerts a
LEFT JOIN alerts r ON r.episode_id = a.episode_id AND r.event = 'RESOLVED'
WHERE a.time > now() - INTERVAL '1 day'
  AND a.event = 'ALERT'
  AND a.alert_id = a.episode_id           -- the first line of each episode
ORDER BY a.time;
