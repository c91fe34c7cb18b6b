output "bucket" {
  description = "The app's private bucket."
  value       = aws_s3_bucket.data.id
}

output "task_definition_arn" {
  description = "The task definition to run (in the team's ECS cluster, behind its load balancer)."
  value       = aws_ecs_task_definition.app.arn
}

output "app_role_arn" {
  description = "The role the app runs as: its own bucket only."
  value       = aws_iam_role.app.arn
}
