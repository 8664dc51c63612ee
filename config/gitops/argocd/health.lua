-- Argo CD health of a Faultline ExperimentRun: Progressing until the run has
-- its verdict, then Healthy only if it Passed (a dry run that passed
-- included) and Degraded for Failed, Aborted, Inconclusive, Error or any
-- verdict this check does not know, so a PostSync hook or a sync wave that
-- holds a run fails the sync unless the system passed the experiment.
local hs = {}
local st = obj.status
if st == nil or st.phase == nil or st.phase == "" then
  hs.status = "Progressing"
  hs.message = "waiting for the Faultline operator to accept the run"
  return hs
end
if st.phase ~= "Completed" then
  hs.status = "Progressing"
  hs.message = st.phase
  if st.message ~= nil and st.message ~= "" then
    hs.message = st.phase .. ": " .. st.message
  end
  return hs
end
if st.verdict == "Passed" then
  hs.status = "Healthy"
else
  hs.status = "Degraded"
end
hs.message = st.message
if hs.message == nil or hs.message == "" then
  hs.message = "verdict " .. tostring(st.verdict)
end
return hs
